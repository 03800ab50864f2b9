"""textwash stages: plain functions over Arrow tables. Each adds columns and never drops rows;
only publish decides what is kept. The flows in `flows/` call them as Prefect tasks."""

from pathlib import Path

MODELS_DIR = Path(__file__).parent / "models"  # the small models trained by benchmarks/ scripts

