"""Built-in Jinja2 templates the core renders its replies and digests with."""
