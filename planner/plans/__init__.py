"""Plans: validate steps, record their inputs, review in check mode, seal, save, and apply exactly that."""
