"""The built-in documents (the Casey Review and its coverage) with their metadata."""
