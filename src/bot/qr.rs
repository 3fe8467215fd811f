//! QR codes as PNG images, for sending a subscription URL or a `vless://`
//! link as a photo.
//!
//! Error correction level M, a 4-module quiet zone, 8 pixels per module,
//! 8-bit grayscale (black on white).

use std::io::Cursor;

use qrcode::{Color, EcLevel, QrCode};

/// Pixels per QR module.
pub const MODULE_PX: usize = 8;
/// White border around the code, in modules (the standard asks for 4).
pub const QUIET_ZONE: usize = 4;
/// The longest text accepted; longer codes get too dense to scan from a screen.
pub const MAX_TEXT_BYTES: usize = 1024;

const DARK: u8 = 0x00;
const LIGHT: u8 = 0xFF;

/// Why a QR code could not be made.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("text is {0} bytes, a QR code takes at most {MAX_TEXT_BYTES}")]
    TooLong(usize),
    #[error("cannot encode the text as a QR code: {0}")]
    Encode(#[from] qrcode::types::QrError),
    #[error("cannot write the PNG: {0}")]
    Png(#[from] png::EncodingError),
}

/// The PNG image of a QR code for `text`; the image is square with a side
/// of `(modules + 2 * QUIET_ZONE) * MODULE_PX` pixels.
pub fn qr_png(text: &str) -> Result<Vec<u8>, QrError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(QrError::TooLong(text.len()));
    }
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side_modules = modules + 2 * QUIET_ZONE;
    let side = side_modules * MODULE_PX;

    let mut pixels = Vec::with_capacity(side * side);
    let mut row = Vec::with_capacity(side);
    for y in 0..side_modules {
        row.clear();
        for x in 0..side_modules {
            let dark = inner(x, modules)
                .zip(inner(y, modules))
                .and_then(|(x, y)| colors.get(y * modules + x))
                == Some(&Color::Dark);
            let shade = if dark { DARK } else { LIGHT };
            row.extend(std::iter::repeat_n(shade, MODULE_PX));
        }
        for _ in 0..MODULE_PX {
            pixels.extend_from_slice(&row);
        }
    }

    let side = u32::try_from(side).map_err(|_| QrError::TooLong(text.len()))?;
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(Cursor::new(&mut png), side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(png)
}

/// The module coordinate inside the code for a coordinate that counts the
/// quiet zone, or `None` in the quiet zone.
fn inner(i: usize, modules: usize) -> Option<usize> {
    i.checked_sub(QUIET_ZONE).filter(|&i| i < modules)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Image {
        side: usize,
        pixels: Vec<u8>,
    }

    fn decode(png_bytes: &[u8]) -> Image {
        let decoder = png::Decoder::new(Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("a PNG header");
        let mut pixels = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut pixels).expect("PNG image data");
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        assert_eq!(info.width, info.height, "square");
        pixels.truncate(info.buffer_size());
        Image {
            side: info.width as usize,
            pixels,
        }
    }

    /// Renders `text`, decodes the PNG and checks it pixel by pixel against
    /// the QR code the `qrcode` crate builds for the same text.
    fn check(text: &str) {
        let png_bytes = qr_png(text).expect("renders");
        let image = decode(&png_bytes);
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).expect("fits");
        assert_eq!(code.error_correction_level(), EcLevel::M);
        let modules = code.width();
        assert_eq!(image.side, (modules + 2 * QUIET_ZONE) * MODULE_PX);
        assert_eq!(image.pixels.len(), image.side * image.side);
        let colors = code.to_colors();
        for (i, &pixel) in image.pixels.iter().enumerate() {
            let (x, y) = (i % image.side / MODULE_PX, i / image.side / MODULE_PX);
            let want = match (inner(x, modules), inner(y, modules)) {
                (Some(x), Some(y)) if colors[y * modules + x] == Color::Dark => DARK,
                _ => LIGHT,
            };
            assert_eq!(pixel, want, "pixel {i} of {text:?}");
        }
    }

    #[test]
    fn renders_subscription_urls_and_vless_links() {
        check("https://sub.example.com/s/4f2a9c1e7b3d4e5fa6b7c8d9e0f1a2b3");
        check(concat!(
            "vless://0b5f9c1e-1111-4222-8333-944455556666@203.0.113.7:443",
            "?encryption=none&flow=xtls-rprx-vision&security=reality",
            "&sni=www.example.com&fp=chrome",
            "&pbk=Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw&sid=6ba85179e30d4fc2",
            "&type=tcp#%F0%9F%87%A9%F0%9F%87%AA%20de-1",
        ));
        check("Привет");
        check("");
    }

    #[test]
    fn png_is_small_enough_to_send() {
        let png_bytes = qr_png(&"x".repeat(400)).expect("renders");
        assert!(png_bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(png_bytes.len() < 100_000, "{} bytes", png_bytes.len());
    }

    #[test]
    fn refuses_too_long_text() {
        assert!(matches!(
            qr_png(&"x".repeat(MAX_TEXT_BYTES + 1)),
            Err(QrError::TooLong(_))
        ));
        assert!(qr_png(&"x".repeat(MAX_TEXT_BYTES)).is_ok());
    }
}
