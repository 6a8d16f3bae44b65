"""`python -m cnnshape`."""

from cnnshape.cli import main

main()
