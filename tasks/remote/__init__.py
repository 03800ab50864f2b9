"""`raw` and `clean` as URLs (s3://bucket/prefix, or another fsspec file system).

The pipeline itself works on local folders; a run on URLs works on a local working copy that
mirrors them (`cache_dir`), and publishes to the bucket with a commit protocol that needs no
rename, link or lock from the storage, only an atomic create-if-absent:

    urls.py     which values are URLs; the fsspec file system behind one
    objects.py  `Bucket`: the few object operations textwash uses (list, get, put, create-if-
                absent, delete) under one prefix
    lease.py    the output's single-writer lock as a lease object renewed while a run holds it
    log.py      the commit log: `_log/<generation>.json` lists every file of a generation;
                creating the next one, if absent, is the commit
    mirror.py   the local copy of `clean`: pulled to the log's latest generation before a run,
                pushed as the next generation after the local commit
    raw.py      the local copy of `raw`: objects downloaded when new or changed
    session.py  what the flow and the CLI call: a run (or a compaction) on URLs
"""
