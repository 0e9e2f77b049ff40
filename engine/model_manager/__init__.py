"""Installing and removing models: sources (URL, Hugging Face, local), resumable checked
transfers, sorting by content into the models folder's subfolders, the starter list and
the trash. No Qt: the CLI and the window's Models dialog both drive it."""
