"""The Generate dock and its job: the panel, inpaint options, LoRAs, control layers, candidates, outpaint growth and the controller that runs jobs."""
