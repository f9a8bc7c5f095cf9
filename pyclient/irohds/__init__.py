"""irohds: memoize expensive Python functions and share results peer-to-peer."""
