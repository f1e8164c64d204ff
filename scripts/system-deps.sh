#!/usr/bin/env bash
# Optional system tools for `tunesmith evaluate`'s HTML report and its tests:
#   fluidsynth + a General MIDI SoundFont  -> audio players in the report
#   chromium + chromium-driver             -> the headless-browser test of the report (Selenium)
# As root on Debian/Ubuntu, missing ones are installed with apt-get; otherwise one line says what
# is missing and how to install it. Never fails the caller: everything here is optional.
# Usage: scripts/system-deps.sh [audio] [browser]   (no argument: both)
# Set TUNESMITH_NO_APT=1 to only report, never install.
set -euo pipefail

want_audio=0
want_browser=0
[ $# -eq 0 ] && set -- audio browser
for arg in "$@"; do
  case "$arg" in
    audio) want_audio=1 ;;
    browser) want_browser=1 ;;
    *) echo "system-deps.sh: unknown argument '$arg' (expected: audio, browser)" >&2; exit 0 ;;
  esac
done

have_soundfont() {
  # The same places tunesmith.report.audio looks in; a set TUNESMITH_SOUNDFONT is the only one.
  if [ -n "${TUNESMITH_SOUNDFONT:-}" ]; then
    [ -f "$TUNESMITH_SOUNDFONT" ] && return 0
    echo "system-deps.sh: TUNESMITH_SOUNDFONT=$TUNESMITH_SOUNDFONT is not a file; fix or unset it"
    return 0 # installing a SoundFont would not help: the variable still wins
  fi
  local f
  for f in /usr/share/sounds/sf2/TimGM6mb.sf2 /usr/share/sounds/sf2/FluidR3_GM.sf2 \
    /usr/share/sounds/sf2/default-GM.sf2 /usr/share/soundfonts/default.sf2 \
    /usr/share/soundfonts/FluidR3_GM.sf2; do
    [ -f "$f" ] && return 0
  done
  return 1
}

missing=()
if [ "$want_audio" = 1 ]; then
  command -v fluidsynth >/dev/null 2>&1 || missing+=(fluidsynth)
  have_soundfont || missing+=(timgm6mb-soundfont)
fi
if [ "$want_browser" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || [ -x /usr/bin/chromedriver ] ||
    missing+=(chromium-driver)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

hint="apt-get install ${missing[*]}"
can_apt=0
[ "$EUID" -eq 0 ] && command -v apt-get >/dev/null 2>&1 && [ "${TUNESMITH_NO_APT:-0}" != 1 ] &&
  can_apt=1
if [ "$can_apt" = 1 ]; then
  echo "system-deps.sh: installing ${missing[*]} (optional: report audio, browser test)"
  export DEBIAN_FRONTEND=noninteractive
  # Wait for a concurrent apt-get (say, a parallel test worker) rather than fail on its lock.
  apt=(apt-get -qq -o DPkg::Lock::Timeout=300)
  if "${apt[@]}" update >/dev/null 2>&1 &&
    "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    exit 0
  fi
  echo "system-deps.sh: could not install ${missing[*]} with apt-get (offline?); try: $hint"
  exit 0
fi
[ "$EUID" -eq 0 ] || hint="sudo $hint"
case " ${missing[*]} " in
  *" timgm6mb-soundfont "*) hint="$hint (or set TUNESMITH_SOUNDFONT=/path/to.sf2)" ;;
esac
echo "system-deps.sh: optional tools missing: ${missing[*]}; to install: $hint"
exit 0
