"""Control layers and ControlNets: the spec a request carries, finding and loading control models, preprocessing, running them, and the CLI flags."""
