"""taskrun's built-in task plugins. They register through the same path as installed plugins."""
