#!/usr/bin/env bash
# Regenerate tests/data/utterances/*.wav and expected.tsv: tip-line sentences spoken by
# festival's SLT voice, then passed through a simulated phone channel. Not run by the tests
# (the clips are committed); needs: apt-get install festival festvox-us-slt-hts sox
#
# Why this voice: espeak-ng output measured on this kind of machine was almost unrecognisable (WER 0.9-1.0),
# while SLT through the same channel decodes about as well as real phone speech.
# The phone channel: 300-3400 Hz band-pass, 8 kHz, 8-bit mu-law (what the PSTN and Twilio
# carry), decoded back to the 16-bit PCM 8 kHz WAV that Twilio recordings are served as.
set -euo pipefail
cd "$(dirname "$0")/utterances"

# id<TAB>text. Keywords: gun, kill, knife, shoot, hurt myself, fight, drugs, bomb; the
# last three sentences are neutral, to see what the recogniser invents.
SENTENCES='u01	there is a kid with a gun in the parking lot
u02	he said he is going to kill me after school
u03	a student has a knife in his backpack
u04	he pulled a knife on me
u05	they are planning to shoot people at the game on friday
u06	i want to hurt myself
u07	there was a big fight behind the gym today
u08	he is selling drugs in the locker room
u09	he said he has a bomb
u10	someone called in a bomb threat
u11	i would like to report a broken window
u12	please call me back tomorrow morning
u13	the lights in the parking lot are broken'

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'file\ttext\n' > expected.tsv
while IFS=$'\t' read -r id text; do
    printf '%s\n' "$text" | text2wave -eval "(voice_cmu_us_slt_arctic_hts)" -o "$work/$id.wav"
    # -D: no dither, so regenerating gives byte-identical files.
    sox -D "$work/$id.wav" -r 8000 -c 1 -e u-law -t wav "$work/$id.ulaw.wav" sinc 300-3400
    sox -D "$work/$id.ulaw.wav" -e signed-integer -b 16 "$id.wav"
    printf '%s.wav\t%s\n' "$id" "$text" >> expected.tsv
done <<< "$SENTENCES"
