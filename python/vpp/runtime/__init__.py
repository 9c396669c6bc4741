"""Running the pipeline: the in-process (embedded) path and shared batch processing."""
