"""Production performance: ground-truth labels joined to the logged predictions."""
