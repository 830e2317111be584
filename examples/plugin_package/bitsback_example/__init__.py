"""An example third-party bitsback plugin (see this folder's README.md)."""
