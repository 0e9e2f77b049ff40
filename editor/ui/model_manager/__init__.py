"""The Models dialog: installed models, install sources and the background tasks that install and remove them."""
