#!/usr/bin/env bash
# make-prompts.sh — synthesizes the example prompts of flows/ as telephone audio.
#
# Every prompt a flow plays must exist as an 8 kHz, mono, 16-bit PCM WAV file:
#   prompts/<language>/<name>.wav   for flows with `languages` (one file per language),
#   prompts/<name>.wav              for flows without `languages` (reception.flow).
# This script speaks each line of the table below with espeak-ng (German voice for `de`, English
# for `en`; `-` means prompts/<name>.wav in German) and converts it with sox. It also makes the
# hold music (prompts/music/hold.wav, named by `prompt hold_music` in common.flow).
# The output is deterministic: running it again gives the same files.
#
# Needs: espeak-ng and sox (Debian/Ubuntu: apt-get install espeak-ng sox).
# Usage: flows/prompts/make-prompts.sh            (from anywhere)
# Real recordings can replace any file later, as long as they stay 8 kHz mono WAV.

set -euo pipefail

cd "$(dirname "$0")"

for tool in espeak-ng sox; do
    if ! command -v "$tool" >/dev/null; then
        echo "make-prompts.sh: \`$tool\` is not installed (apt-get install espeak-ng sox)" >&2
        exit 2
    fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Telephone audio: 8000 Hz, 1 channel, 16-bit signed PCM; no dither, so the output is reproducible.
to_phone() { sox -V1 -D "$1" -r 8000 -c 1 -b 16 -e signed-integer "$2" "${@:3}"; }

# name | language (de, en, or - for prompts/<name>.wav) | text
table=$(cat <<'EOF'
# --- shared menu feedback (ivr.flow, recording.flow) ---
invalid-choice        | de | Diese Auswahl gibt es leider nicht.
invalid-choice        | en | Sorry, that is not a valid choice.
no-input              | de | Wir haben keine Eingabe erhalten.
no-input              | en | We did not receive your input.
invalid-number        | de | Diese Nummer ist leider ungültig.
invalid-number        | en | Sorry, that number is not valid.
you-entered           | de | Sie haben eingegeben:
you-entered           | en | You entered:

# --- ivr.flow (switchboard) ---
switchboard-welcome   | de | Willkommen bei Example. Schön, dass Sie anrufen.
switchboard-welcome   | en | Welcome to Example. Thank you for calling.
switchboard-closed    | de | Unsere Zentrale ist gerade geschlossen.
switchboard-closed    | en | Our switchboard is closed right now.
main-menu             | de | Vertrieb 1, Service 3, English 9, Zentrale 0, oder Durchwahl.
main-menu             | en | Sales 1, service 3, Deutsch 9, operator 0, or an extension.
main-menu-short       | de | Vertrieb 1, Service 3, Zentrale 0.
main-menu-short       | en | Sales 1, service 3, operator 0.
service-menu          | de | Technik 1, Rechnungen 2, Bestellungen 3, zurück Stern.
service-menu          | en | Support 1, invoices 2, orders 3, back star.
billing-menu          | de | Rechnung 1, Bankverbindung 2, zurück Stern, Anfang 0.
billing-menu          | en | Invoices 1, bank details 2, back star, start 0.
bank-details          | de | Unsere Bankverbindung steht auf jeder Rechnung.
bank-details          | en | Our bank details are printed on every invoice.
language-menu         | de | Deutsch 1, English 2.
language-menu         | en | Deutsch 1, English 2.
enter-invoice-number  | de | Bitte die Rechnungsnummer eingeben, dann Raute.
enter-invoice-number  | en | Please type your invoice number, then hash.
vm-general            | de | Bitte sprechen Sie nach dem Ton.
vm-general            | en | Please speak after the tone.
vm-general-no-answer  | de | Niemand ist frei. Sprechen Sie nach dem Ton.
vm-general-no-answer  | en | Nobody is free. Speak after the tone.
vm-general-closed     | de | Wir rufen zurück. Bitte sprechen Sie nach dem Ton.
vm-general-closed     | en | We will call you back. Speak after the tone.

# --- support.flow ---
support-welcome       | de | Willkommen beim Support. Wir verbinden Sie.
support-closed        | de | Der Support ist gerade geschlossen.
support-unavailable   | de | Im Moment ist niemand im Support erreichbar.
support-queue         | de | Alle Kollegen sind im Gespräch. Bitte bleiben Sie dran.
vm-support            | de | Support. Bitte sprechen Sie nach dem Ton.
vm-support-busy       | de | Alle Leitungen sind belegt. Sprechen Sie nach dem Ton.
vm-support-no-answer  | de | Leider ist niemand frei. Sprechen Sie nach dem Ton.
vm-support-closed     | de | Wir rufen zurück. Bitte sprechen Sie nach dem Ton.

# --- sales.flow ---
sales-welcome         | de | Willkommen im Vertrieb. Einen Moment bitte.
sales-closed          | de | Der Vertrieb ist gerade geschlossen.
sales-holiday         | de | Heute ist Feiertag. Der Vertrieb ist geschlossen.
sales-company-holiday | de | Wir sind in Betriebsferien.
sales-closed-now      | de | Der Vertrieb ist heute leider nicht erreichbar.
vm-sales              | de | Vertrieb. Bitte sprechen Sie nach dem Ton.
vm-sales-busy         | de | Die Warteschlange ist voll. Sprechen Sie nach dem Ton.
vm-sales-no-answer    | de | Leider ist niemand frei. Sprechen Sie nach dem Ton.
vm-sales-closed       | de | Wir melden uns. Bitte sprechen Sie nach dem Ton.

# --- recording.flow (order hotline) ---
orders-welcome        | de | Willkommen bei der Bestell-Hotline.
orders-closed         | de | Die Bestell-Hotline ist gerade geschlossen.
recording-notice      | de | Dürfen wir aufzeichnen? Ja 1, nein 2.
recording-on          | de | Danke. Stern 9 stoppt die Aufzeichnung.
recording-off         | de | Dieses Gespräch wird nicht aufgezeichnet.
orders-menu           | de | Neue Bestellung 1, Bestellfrage 2, Kartenzahlung 3.
enter-order-number    | de | Bitte die siebenstellige Bestellnummer eingeben.
vm-orders             | de | Bestell-Hotline. Bitte sprechen Sie nach dem Ton.
vm-orders-no-answer   | de | Leider ist niemand frei. Sprechen Sie nach dem Ton.
vm-orders-closed      | de | Wir sind geschlossen. Sprechen Sie nach dem Ton.

# --- care.flow ---
care-welcome          | de | Willkommen beim Kundenservice.
care-welcome          | en | Welcome to customer care.
care-closed           | de | Der Kundenservice ist gerade geschlossen.
care-closed           | en | Customer care is closed right now.
care-vip-welcome      | de | Willkommen zurück. Ihr Berater ist gleich da.
care-vip-welcome      | en | Welcome back. Your advisor will be with you shortly.
care-long-wait        | de | Es kann dauern. Mit der 1 hinterlassen Sie eine Nachricht.
care-long-wait        | en | This may take a while. Press 1 to leave a message.
care-many-ahead       | de | Vor Ihnen warten mehr als zehn Anrufer.
care-many-ahead       | en | More than ten callers are ahead of you.
vm-care               | de | Kundenservice. Bitte sprechen Sie nach dem Ton.
vm-care               | en | Customer care. Please speak after the tone.
vm-care-busy          | de | Die Warteschlange ist voll. Sprechen Sie nach dem Ton.
vm-care-busy          | en | The queue is full. Please speak after the tone.
vm-care-no-answer     | de | Wir rufen Sie zurück. Sprechen Sie nach dem Ton.
vm-care-no-answer     | en | We will call you back. Please speak after the tone.
vm-care-closed        | de | Wir rufen zurück. Bitte sprechen Sie nach dem Ton.
vm-care-closed        | en | We will call you back. Speak after the tone.

# --- reception.flow (no languages: prompts/<name>.wav) ---
reception-closed      | -  | Der Empfang ist gerade nicht besetzt.
vm-reception          | -  | Empfang. Bitte sprechen Sie nach dem Ton.
vm-reception-closed   | -  | Der Empfang ist geschlossen. Sprechen Sie nach dem Ton.
EOF
)

count=0
while IFS='|' read -r name lang text; do
    name=$(echo "$name" | xargs)
    lang=$(echo "$lang" | xargs)
    text=$(echo "$text" | sed 's/^ *//; s/ *$//')
    [[ -z "$name" || "$name" == \#* ]] && continue
    case "$lang" in
        de) voice=de; out="de/$name.wav" ;;
        en) voice=en-gb; out="en/$name.wav" ;;
        -)  voice=de; out="$name.wav" ;;
        *)  echo "make-prompts.sh: unknown language \`$lang\` for \`$name\`" >&2; exit 1 ;;
    esac
    mkdir -p "$(dirname "$out")"
    espeak-ng -v "$voice" -s 175 -w "$tmp/speech.wav" "$text"
    # Trim the silence espeak leaves at the end, then convert and normalize to -3 dBFS.
    to_phone "$tmp/speech.wav" "$out" reverse silence 1 0.05 1% reverse norm -3
    count=$((count + 1))
done <<< "$table"

# The `say` packs: one file per word the server puts numbers and digits together from
# (runtime/src/media/say.rs names them), per language: <language>/say/<word>.wav, and say/ for
# flows without languages (German, like their prompts).
say_words() { # language
    local -a ones
    if [ "$1" = en ]; then
        ones=(zero one two three four five six seven eight nine ten eleven twelve thirteen
              fourteen fifteen sixteen seventeen eighteen nineteen)
        local -A more=([20]=twenty [30]=thirty [40]=forty [50]=fifty [60]=sixty [70]=seventy
            [80]=eighty [90]=ninety [hundred]=hundred [thousand]=thousand [million]=million
            [millions]=million [and]=and [one-compound]=one [one-feminine]=one [minus]=minus)
    else
        ones=(null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn
              vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn)
        local -A more=([20]=zwanzig [30]=dreißig [40]=vierzig [50]=fünfzig [60]=sechzig
            [70]=siebzig [80]=achtzig [90]=neunzig [hundred]=hundert [thousand]=tausend
            [million]=Million [millions]=Millionen [and]=und [one-compound]=ein
            [one-feminine]=eine [minus]=minus)
    fi
    local i
    for i in "${!ones[@]}"; do echo "$i|${ones[$i]}"; done
    for i in "${!more[@]}"; do echo "$i|${more[$i]}"; done
}
for pack in de en -; do
    case "$pack" in
        de) voice=de; dir=de/say; words=$(say_words de) ;;
        en) voice=en-gb; dir=en/say; words=$(say_words en) ;;
        -)  voice=de; dir=say; words=$(say_words de) ;;
    esac
    mkdir -p "$dir"
    # The pack's language (for the rules that put numbers together), where its folder's name
    # does not say it.
    [ "$pack" = - ] && echo de > "$dir/LANGUAGE"
    while IFS='|' read -r word text; do
        espeak-ng -v "$voice" -s 175 -w "$tmp/speech.wav" "$text"
        # Words are put together: trim the silence at both ends.
        to_phone "$tmp/speech.wav" "$dir/$word.wav" silence 1 0.02 1% reverse silence 1 0.05 1% reverse norm -3
        count=$((count + 1))
    done <<< "$words"
done

# Hold music: a calm arpeggio of plucked notes (C major, A minor, F major, G major), about 5 s;
# queues play it in a loop.
mkdir -p music
notes=(C4 E4 G4 E4 A3 C4 E4 C4 F3 A3 C4 A3 G3 B3 D4 B3)
parts=()
for i in "${!notes[@]}"; do
    part="$tmp/note$i.wav"
    sox -V1 -D -n -r 8000 -c 1 -b 16 -e signed-integer "$part" synth 0.3 pluck "${notes[$i]}" fade 0 0.3 0.1
    parts+=("$part")
done
sox -V1 -D "${parts[@]}" -r 8000 -c 1 -b 16 -e signed-integer music/hold.wav norm -6
count=$((count + 1))

echo "make-prompts.sh: wrote $count prompt files under $(pwd)"
