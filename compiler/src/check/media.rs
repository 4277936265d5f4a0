//! Prompt files: which WAV file each played prompt name means for each of the flow's languages
//! (a `prompt` definition, or the convention `<flow folder>/prompts/<language>/<name>.wav`),
//! and, given facts the caller read from disk, whether each exists and is 8 kHz mono audio.

use super::flow::FlowChecked;
use super::{Checked, Cx};
use crate::ast::{DefKind, Flow, Item, Text};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::source::{FileId, Span};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What the caller found at a prompt path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaFact {
    Missing,
    Unreadable(String),
    /// Not a WAV file, or a broken one; the reason in words.
    NotWav(String),
    Wav {
        sample_rate: u32,
        channels: u16,
        bits: u16,
        /// WAVE format tag: 1 PCM, 6 A-law, 7 µ-law, ...
        format: u16,
    },
}

impl MediaFact {
    /// True for audio callflow can play as is: 8 kHz mono, 16-bit PCM or G.711 (A-law, µ-law).
    pub fn playable(&self) -> bool {
        matches!(self, MediaFact::Wav { sample_rate: 8000, channels: 1, bits, format }
            if (*format == 1 && *bits == 16) || (matches!(*format, 6 | 7) && *bits == 8))
    }
}

/// A prompt file a flow needs, and where it is named.
#[derive(Clone, Debug)]
pub struct PromptFile {
    pub path: PathBuf,
    pub prompt: String,
    pub language: Option<String>,
    pub uses: Vec<Span>,
}

/// Facts about prompt files, gathered by the caller.
#[derive(Default, Debug)]
pub struct Facts {
    pub files: HashMap<PathBuf, MediaFact>,
    /// For folders of missing files: the prompt names (file stems) that do exist there.
    pub listings: HashMap<PathBuf, Vec<String>>,
}

fn dir_of(cx: &Cx, file: FileId) -> PathBuf {
    cx.project.paths[file.0 as usize]
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The prompt files of one flow, with the places that name them.
pub fn files(cx: &Cx, file: FileId, flow: &Flow, fc: &FlowChecked) -> Vec<PromptFile> {
    let mut names: Vec<&Text> = fc.prompts.clone();
    for &b in &fc.boxes {
        if let Item::Voicemail(v) = cx.item(b) {
            names.extend(v.greetings.iter().map(|(_, t)| t));
        }
    }
    let base = dir_of(cx, file).join(
        flow.prompts_dir
            .as_ref()
            .map_or("prompts", |d| d.value.as_str()),
    );
    let langs: Vec<Option<&str>> = if flow.languages.is_empty() {
        vec![None]
    } else {
        flow.languages
            .iter()
            .map(|l| Some(l.name.as_str()))
            .collect()
    };
    let mut out: Vec<PromptFile> = Vec::new();
    let mut index: HashMap<PathBuf, usize> = HashMap::new();
    let mut add =
        |path: PathBuf, prompt: &str, lang: Option<&str>, span: Span| match index.get(&path) {
            Some(&i) => out[i].uses.push(span),
            None => {
                index.insert(path.clone(), out.len());
                out.push(PromptFile {
                    path,
                    prompt: prompt.to_string(),
                    language: lang.map(str::to_string),
                    uses: vec![span],
                });
            }
        };
    for t in names {
        let def = cx
            .globals
            .get(&t.value)
            .filter(|&id| cx.globals.def(id).kind == DefKind::Prompt);
        if let Some(id) = def {
            cx.globals.mark_used(id);
            let Item::Prompt(p) = cx.item(id) else {
                continue;
            };
            let dir = dir_of(cx, cx.globals.def(id).file);
            for lang in &langs {
                let f = p
                    .files
                    .iter()
                    .find(|(l, _)| l.is_none() || l.as_ref().map(|l| l.name.as_str()) == *lang);
                match f {
                    Some((_, f)) => add(dir.join(&f.value), &t.value, *lang, t.span),
                    None => add(PathBuf::new(), &t.value, *lang, t.span),
                }
            }
            continue;
        }
        if !valid_name(&t.value) {
            continue;
        }
        for lang in &langs {
            let dir = match lang {
                Some(l) => base.join(l),
                None => base.clone(),
            };
            add(
                dir.join(format!("{}.wav", t.value)),
                &t.value,
                *lang,
                t.span,
            );
        }
    }
    out
}

/// A say pack a flow needs: its folder, its language, and the `say` statements that use it.
#[derive(Clone, Debug)]
pub struct SayPack {
    pub dir: PathBuf,
    pub language: Option<String>,
    pub uses: Vec<Span>,
}

impl SayPack {
    /// The files of the pack's words.
    pub fn files(&self) -> impl Iterator<Item = PathBuf> + '_ {
        crate::say::WORDS
            .iter()
            .map(|w| self.dir.join(format!("{w}.wav")))
    }
}

/// The say packs a flow needs: one per prompt folder of its languages, when it says values.
pub fn say_packs(cx: &Cx, file: FileId, flow: &Flow, fc: &FlowChecked) -> Vec<SayPack> {
    if fc.says.is_empty() {
        return Vec::new();
    }
    let base = dir_of(cx, file).join(
        flow.prompts_dir
            .as_ref()
            .map_or("prompts", |d| d.value.as_str()),
    );
    if flow.languages.is_empty() {
        return vec![SayPack {
            dir: base.join("say"),
            language: None,
            uses: fc.says.clone(),
        }];
    }
    flow.languages
        .iter()
        .map(|l| SayPack {
            dir: base.join(&l.name).join("say"),
            language: Some(l.name.clone()),
            uses: fc.says.clone(),
        })
        .collect()
}

/// Prompt names are relative paths without `..` (they name files under the prompt folder).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.split('/').any(|p| p == ".." || p.is_empty())
}

/// Checks the prompt files against the facts (CF0701, CF0702). Files without facts count as
/// missing.
pub fn check(checked: &mut Checked, facts: &Facts) {
    let mut diags = Diagnostics::default();
    for pf in &checked.prompt_files {
        let first = pf.uses[0];
        let lang = pf
            .language
            .as_ref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        let fact = if pf.path.as_os_str().is_empty() {
            None
        } else {
            facts.files.get(&pf.path)
        };
        let d = match fact {
            _ if pf.path.as_os_str().is_empty() => Some(
                Diagnostic::new(
                    codes::PROMPT_MISSING,
                    first,
                    format!(
                        "prompt \"{}\" has no file for language `{}`",
                        pf.prompt,
                        pf.language.as_deref().unwrap_or("?")
                    ),
                    "no file for this language",
                )
                .help("add the language to the `prompt` definition with its WAV file"),
            ),
            None | Some(MediaFact::Missing) => {
                let parent = pf.path.parent().map(Path::to_path_buf).unwrap_or_default();
                let d = Diagnostic::new(
                    codes::PROMPT_MISSING,
                    first,
                    format!("prompt file `{}` is missing", pf.path.display()),
                    format!("prompt \"{}\"{lang} has no file", pf.prompt),
                );
                let fallback = format!(
                    "record it as 8 kHz mono WAV at `{}`, or define `prompt {} \"FILE.wav\"`",
                    pf.path.display(),
                    pf.prompt.replace(['/', '-'], "_")
                );
                Some(match facts.listings.get(&parent) {
                    Some(names) => {
                        d.suggest(&pf.prompt, names.iter().map(String::as_str), fallback)
                    }
                    None => d.help(fallback),
                })
            }
            Some(MediaFact::Unreadable(why)) => Some(
                Diagnostic::new(
                    codes::PROMPT_MISSING,
                    first,
                    format!("prompt file `{}` cannot be read: {why}", pf.path.display()),
                    "this prompt cannot be played",
                )
                .help("check the file's permissions"),
            ),
            Some(MediaFact::NotWav(why)) => Some(
                Diagnostic::new(
                    codes::PROMPT_FORMAT,
                    first,
                    format!(
                        "prompt file `{}` is not a WAV file: {why}",
                        pf.path.display()
                    ),
                    format!("prompt \"{}\"{lang}", pf.prompt),
                )
                .help("convert it: `sox INPUT -r 8000 -c 1 -b 16 OUTPUT.wav`"),
            ),
            Some(
                f @ MediaFact::Wav {
                    sample_rate,
                    channels,
                    bits,
                    format,
                },
            ) if !f.playable() => {
                let fmt = match format {
                    1 => format!("{bits}-bit PCM"),
                    3 => "float".into(),
                    6 => "A-law".into(),
                    7 => "µ-law".into(),
                    other => format!("format {other}"),
                };
                let ch = if *channels == 1 {
                    "mono".into()
                } else if *channels == 2 {
                    "stereo".into()
                } else {
                    format!("{channels} channels")
                };
                Some(
                    Diagnostic::new(
                        codes::PROMPT_FORMAT,
                        first,
                        format!("prompt file `{}` is {} Hz {ch} {fmt}, not 8 kHz mono", pf.path.display(), sample_rate),
                        format!("prompt \"{}\"{lang}", pf.prompt),
                    )
                    .help("telephone audio is 8 kHz mono; convert it: `sox INPUT -r 8000 -c 1 -b 16 OUTPUT.wav`"),
                )
            }
            Some(_) => None,
        };
        if let Some(mut d) = d {
            for &u in pf.uses.iter().skip(1).take(3) {
                d = d.label(u, "also played here");
            }
            diags.push(d);
        }
    }
    for pack in &checked.say_packs {
        let missing: Vec<&str> = crate::say::WORDS
            .iter()
            .zip(pack.files())
            .filter(|(_, f)| !facts.files.get(f).is_some_and(MediaFact::playable))
            .map(|(w, _)| *w)
            .collect();
        if missing.is_empty() {
            continue;
        }
        let lang = pack
            .language
            .as_ref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        let which = if missing.len() == crate::say::WORDS.len() {
            "none of its words is there".to_string()
        } else {
            let list: Vec<String> = missing.iter().take(6).map(|w| format!("{w}.wav")).collect();
            let more = missing.len().saturating_sub(6);
            format!(
                "{} missing: {}{}",
                missing.len(),
                list.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
        };
        let mut d = Diagnostic::new(
            codes::SAY_PACK_MISSING,
            pack.uses[0],
            format!("`say` needs the say pack `{}`{lang}: {which}", pack.dir.display()),
            "says nothing without it",
        )
        .help("record one 8 kHz mono WAV per word there (0-19, the tens 20-90, hundred, thousand, million, millions, and, one-compound, one-feminine, minus), or copy a pack from the example flows (flows/prompts/*/say/, made by make-prompts.sh)");
        for &u in pack.uses.iter().skip(1).take(3) {
            d = d.label(u, "also says here");
        }
        diags.push(d);
    }
    checked.diags.extend(diags);
}
