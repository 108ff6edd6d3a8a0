"""The pure scoring core: rules language, compiler, engine. No AWS, no I/O beyond reading YAML."""
