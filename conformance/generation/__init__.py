"""Request generation: from the typed contract to the concrete values a check sends."""
