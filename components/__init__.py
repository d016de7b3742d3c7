"""Components of the Kommander-style management cluster, one module each."""
