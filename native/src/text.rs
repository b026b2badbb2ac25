//! Text corpora on disk for language modelling, laid out as users have them: a folder with the
//! three files of Mikolov's Penn Treebank (`ptb.train.txt`, `ptb.valid.txt`, `ptb.test.txt`),
//! WikiText's (`wiki.train.tokens`, …), the DARTS code's (`train.txt`, …), or any three names that
//! differ only in `train` / `valid` / `test`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rdarts_core::formats::MAX_DATA_BYTES;
use rdarts_core::lm::Corpus;

/// The three files of the corpus in `dir`: the one file whose name contains `train`, and the
/// files named like it with `valid` and `test` in its place.
pub fn corpus_files(dir: &Path) -> Result<[PathBuf; 3]> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("{}: cannot read the corpus folder", dir.display()))?;
    let mut trains: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.contains("train"))
        .collect();
    trains.sort();
    let train = match trains.as_slice() {
        [one] => one.clone(),
        [] => bail!("{}: no training file (expected ptb.train.txt, wiki.train.tokens, train.txt or another name with 'train' in it)", dir.display()),
        many => bail!("{}: {} files could be the training file ({}); keep one per folder", dir.display(), many.len(), many.join(", ")),
    };
    let named = |part: &str| dir.join(train.replacen("train", part, 1));
    let files = [dir.join(&train), named("valid"), named("test")];
    for f in &files[1..] {
        if !f.is_file() {
            bail!("{}: missing (the training file is {train}; the validation and test files are named like it)", f.display());
        }
    }
    Ok(files)
}

/// Reads the corpus in `dir` (see [`corpus_files`]).
pub fn read_corpus(dir: &Path) -> Result<Corpus> {
    let files = corpus_files(dir)?;
    let mut texts = Vec::with_capacity(3);
    for f in &files {
        let len = std::fs::metadata(f).with_context(|| format!("{}: cannot read", f.display()))?.len();
        if len > MAX_DATA_BYTES {
            bail!("{}: {len} bytes, more than the {MAX_DATA_BYTES} a corpus file may have", f.display());
        }
        let bytes = std::fs::read(f).with_context(|| format!("{}: cannot read", f.display()))?;
        let text = String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("{}: not UTF-8 text (invalid byte at offset {})", f.display(), e.utf8_error().valid_up_to()))?;
        texts.push(text);
    }
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    Ok(Corpus::from_texts([(&names[0], &texts[0]), (&names[1], &texts[1]), (&names[2], &texts[2])])?)
}
