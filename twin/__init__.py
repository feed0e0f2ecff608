"""Digital twin: composes the domain packages and publishes georeferenced products
under a catalog.

Layer: top; may import every other package.
"""
