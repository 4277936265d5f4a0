#!/usr/bin/env python3
"""Writes the prompt files the golden tests in tests/ui play.

Every prompt is 0.2 s of silence as 8 kHz mono 16-bit PCM WAV, the format callflow accepts.
Two files are wrong on purpose, for the CF0702 tests: `welcome-studio.wav` is 16 kHz stereo and
`jingle.wav` is an MP3 file with a .wav name. Files left out on purpose (CF0701 tests):
`welcom.wav` (a typo of `welcome`) and `en/closed-today.wav` (a missing translation).

Run from anywhere: python3 tests/ui/prompts/make.py
"""

import os
import wave

HERE = os.path.dirname(os.path.abspath(__file__))

# Prompt names (paths under prompts/, without .wav) that must exist and be playable.
PLAYABLE = [
    "billing-menu",
    "closed",
    "dial-extension",
    "emergency-closed",
    "enter-customer-number",
    "goodbye",
    "hold-music",
    "invalid-choice",
    "main-menu",
    "no-input",
    "outage-notice",
    "please-hold",
    "recording-notice",
    "vm-closed",
    "vm-support",
    "welcome",
    "welcome-berlin",
    "you-entered",
    # flows with `languages de` / `languages de, en`
    "de/closed-today",
    "de/welcome",
    "en/welcome",
]


def write_wav(name, rate=8000, channels=1, seconds=0.2):
    path = os.path.join(HERE, name + ".wav")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    frames = int(rate * seconds)
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)  # 16-bit
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * channels * frames)


def main():
    for name in PLAYABLE:
        write_wav(name)
    # CF0702: right container, wrong format (16 kHz stereo, as exported from a studio).
    write_wav("welcome-studio", rate=16000, channels=2)
    # CF0702: not a WAV file at all (the start of an MP3 file with an ID3 tag).
    with open(os.path.join(HERE, "jingle.wav"), "wb") as f:
        f.write(b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10 + b"\xff\xfb\x90\x00" + b"\x00" * 32)


if __name__ == "__main__":
    main()
