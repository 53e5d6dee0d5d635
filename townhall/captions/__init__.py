"""Live captions: speech-to-text on each program, delivered as a WebVTT HLS rendition.

`webvtt`, `timeline`, `utterance`: sans-IO cores (text, cue bookkeeping, utterance cutting).
`worker`: the recogniser's own process (faster-whisper). `captioner`: the origin's service
that feeds it and publishes subtitle segments; `programs`: the program factory that taps each
program. docs/captions.md explains the whole.
"""
