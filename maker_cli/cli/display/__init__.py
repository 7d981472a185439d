"""Displays for people: rich live views on a terminal, plain lines elsewhere. Engine listeners."""
