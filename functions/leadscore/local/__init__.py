"""Running the whole stack on this machine with an embedded AWS stand-in (moto)."""
