"""The kernel: errors, events, options, settings, the model table. Imports no other layer."""
