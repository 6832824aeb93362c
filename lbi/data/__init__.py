"""Datasets: the canonical store, its readers/writers and the dataset-specific preprocessors."""
