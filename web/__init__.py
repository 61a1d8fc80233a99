"""The web layer around the ``emotion`` library: server configuration, request guards, Gradio components."""
