"""Foundation the editor shares with the engine: atomic writes, image reading, paths, cv2 isolation, errors, logging setup, devices."""
