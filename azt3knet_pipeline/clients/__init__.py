"""httpx clients for the external APIs (Mailcow, deSEC, Ollama), sharing one retry policy."""
