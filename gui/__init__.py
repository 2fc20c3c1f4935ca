"""Brushwork's Qt desktop app. Talks to the engine only through `worker.GenerationWorker`."""
