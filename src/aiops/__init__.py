"""AIOps workbench."""
