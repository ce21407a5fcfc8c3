"""Paired comparison of two LOOCV runs on the same samples (``loocv compare``, the
baseline gate). LOOCV gives every sample one held-out prediction per model, so two runs are
compared sample by sample: far more power than two accuracies with their intervals."""
