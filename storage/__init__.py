"""The partition log over object storage, and the object stores behind it."""
