"""textwash stages: plain functions over Arrow tables. Each adds columns and never drops rows;
only publish decides what is kept. The flows in `flows/` call them as Prefect tasks."""
