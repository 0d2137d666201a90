"""Training, evaluation and prediction on top of the compiled graph (imports torch)."""
