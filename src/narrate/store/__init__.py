"""The cache of paragraph audio: a database table and a directory of files."""
