"""infogan."""
