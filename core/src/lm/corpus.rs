//! Text as DARTS' language-modelling code reads it (`rnn/data.py`, `rnn/utils.py`): words split at
//! white space, `<eos>` after every line, one vocabulary over the training, validation and test
//! files in that order (ids in order of first appearance), token streams laid out as `batchify`
//! does, and `get_batch`'s windows.

use std::collections::HashMap;

use crate::error::CoreError;

/// The end-of-line token appended to every line.
pub const EOS: &str = "<eos>";

/// The most tokens a corpus file may hold, and the largest vocabulary (WikiText-103 has 103 M
/// tokens and 267 k words; PTB 0.9 M and 10 k).
pub const MAX_TOKENS: usize = 200_000_000;
/// The largest vocabulary.
pub const MAX_VOCAB: usize = 1_000_000;

/// Words and their ids, in order of first appearance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Vocab {
    words: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Vocab {
    /// Number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether no word was added.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The word of `id`.
    pub fn word(&self, id: u32) -> Option<&str> {
        self.words.get(id as usize).map(String::as_str)
    }

    /// The id of `word`, if known.
    pub fn id(&self, word: &str) -> Option<u32> {
        self.ids.get(word).copied()
    }

    /// The words in id order.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    fn add(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.ids.get(word) {
            return id;
        }
        let id = self.words.len() as u32;
        self.words.push(word.to_string());
        self.ids.insert(word.to_string(), id);
        id
    }
}

/// A corpus: the vocabulary and the three token streams.
#[derive(Clone, Debug, PartialEq)]
pub struct Corpus {
    /// Every word of the three files.
    pub vocab: Vocab,
    /// Training tokens.
    pub train: Vec<u32>,
    /// Validation tokens.
    pub valid: Vec<u32>,
    /// Test tokens.
    pub test: Vec<u32>,
}

impl Corpus {
    /// Tokenises the three files' texts, each with the name errors give it. Lines end at `\n` (a
    /// preceding `\r` is dropped); an empty line is one `<eos>`.
    pub fn from_texts(texts: [(&str, &str); 3]) -> Result<Corpus, CoreError> {
        let mut vocab = Vocab::default();
        let mut streams = Vec::with_capacity(3);
        for (name, text) in texts {
            let mut ids = Vec::new();
            for line in text.split_terminator('\n') {
                let line = line.strip_suffix('\r').unwrap_or(line);
                for word in line.split_whitespace().chain([EOS]) {
                    ids.push(vocab.add(word));
                }
                if ids.len() > MAX_TOKENS {
                    return Err(CoreError::data(name, format!("more than {MAX_TOKENS} tokens")));
                }
                if vocab.len() > MAX_VOCAB {
                    return Err(CoreError::data(name, format!("more than {MAX_VOCAB} distinct words")));
                }
            }
            streams.push(ids);
        }
        let test = streams.pop().expect("three");
        let valid = streams.pop().expect("three");
        let train = streams.pop().expect("three");
        for (ids, (name, _)) in [&train, &valid, &test].into_iter().zip(texts) {
            if ids.len() < 2 {
                return Err(CoreError::data(name, format!("{} tokens; a language model needs at least 2", ids.len())));
            }
        }
        Ok(Corpus { vocab, train, valid, test })
    }
}

impl Corpus {
    /// The embedded default corpus: Jane Austen's *Persuasion* in the Penn Treebank layout
    /// (core/data/README.md: source, licence, how it was made), 70 908 / 8 580 / 7 744 tokens.
    pub fn embedded() -> Corpus {
        const FILES: [(&str, &[u8]); 3] = [
            ("persuasion.train.txt", include_bytes!("../../data/persuasion.train.txt.gz")),
            ("persuasion.valid.txt", include_bytes!("../../data/persuasion.valid.txt.gz")),
            ("persuasion.test.txt", include_bytes!("../../data/persuasion.test.txt.gz")),
        ];
        let texts = FILES.map(|(name, gz)| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz), &mut text).expect("the embedded corpus is valid gzipped UTF-8");
            (name, text)
        });
        Corpus::from_texts([(texts[0].0, &texts[0].1), (texts[1].0, &texts[1].1), (texts[2].0, &texts[2].1)]).expect("the embedded corpus is valid")
    }
}

/// A token stream cut into `cols` equal columns, read down the columns (`batchify`): row t of
/// column b is token `b · rows + t`; the tail that does not fill a row is dropped.
#[derive(Clone, Debug, PartialEq)]
pub struct Batched {
    /// Time steps.
    pub rows: usize,
    /// Streams side by side (the batch size).
    pub cols: usize,
    /// Row-major `[rows, cols]`.
    pub ids: Vec<u32>,
}

impl Batched {
    /// Lays `tokens` out in `cols` columns.
    pub fn new(tokens: &[u32], cols: usize) -> Result<Batched, CoreError> {
        if cols == 0 {
            return Err(CoreError::invalid("batch_size", "must be at least 1"));
        }
        let rows = tokens.len() / cols;
        if rows < 2 {
            return Err(CoreError::invalid("batch_size", format!("{cols} columns of {} tokens leave fewer than 2 time steps", tokens.len())));
        }
        let mut ids = vec![0; rows * cols];
        for b in 0..cols {
            for t in 0..rows {
                ids[t * cols + b] = tokens[b * rows + t];
            }
        }
        Ok(Batched { rows, cols, ids })
    }

    /// `get_batch(source, i, seq_len)`: the inputs of rows `i..i + n` and the targets one row
    /// later, with `n = min(seq_len, rows − 1 − i)`.
    pub fn window(&self, i: usize, seq_len: usize) -> Window {
        let t = seq_len.min(self.rows.saturating_sub(1 + i));
        let c = self.cols;
        Window { inputs: self.ids[i * c..(i + t) * c].to_vec(), targets: self.ids[(i + 1) * c..(i + 1 + t) * c].to_vec(), t, b: c }
    }
}

/// One window of a [`Batched`] stream: `t` time steps of `b` streams.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// Input tokens, row-major `[t, b]`.
    pub inputs: Vec<u32>,
    /// The next token of each input, row-major `[t, b]`.
    pub targets: Vec<u32>,
    /// Time steps.
    pub t: usize,
    /// Streams.
    pub b: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_spans_the_three_files_in_order() {
        let c = Corpus::from_texts([("train", " the cat\r\n\nsat\n"), ("valid", "the dog"), ("test", "cat cat\n")]).unwrap();
        assert_eq!(c.vocab.words(), ["the", "cat", EOS, "sat", "dog"]);
        assert_eq!(c.train, vec![0, 1, 2, 2, 3, 2]);
        assert_eq!(c.valid, vec![0, 4, 2]);
        assert_eq!(c.test, vec![1, 1, 2]);
        assert_eq!((c.vocab.id("dog"), c.vocab.word(3)), (Some(4), Some("sat")));
        let err = Corpus::from_texts([("train.txt", "a b c"), ("valid.txt", ""), ("test.txt", "x")]).unwrap_err().to_string();
        assert!(err.contains("valid.txt: 0 tokens"), "{err}");
    }

    #[test]
    fn the_embedded_corpus_has_its_documented_sizes() {
        let c = Corpus::embedded();
        assert_eq!((c.train.len(), c.valid.len(), c.test.len()), (70_908, 8_580, 7_744));
        assert_eq!(c.vocab.len(), 2_001);
        assert_eq!((c.vocab.word(0), c.vocab.id("<unk>").is_some(), c.vocab.id(EOS).is_some()), (Some("sir"), true, true));
    }

    #[test]
    fn batchify_reads_down_columns_and_windows_shift_by_one() {
        let tokens: Vec<u32> = (0..11).collect();
        let b = Batched::new(&tokens, 2).unwrap();
        // rows = 5: column 0 holds 0..5, column 1 holds 5..10; token 10 is dropped.
        assert_eq!((b.rows, b.cols), (5, 2));
        assert_eq!(b.ids, vec![0, 5, 1, 6, 2, 7, 3, 8, 4, 9]);
        let w = b.window(1, 2);
        assert_eq!((w.inputs, w.targets, w.t, w.b), (vec![1, 6, 2, 7], vec![2, 7, 3, 8], 2, 2));
        // The last window is cut so that its targets exist.
        let w = b.window(3, 35);
        assert_eq!((w.inputs, w.targets, w.t), (vec![3, 8], vec![4, 9], 1));
        assert!(Batched::new(&tokens, 6).is_err());
    }
}
