//! The mouse cursor drawn into frames while the GUI is open (as the contractor videos lack it).

/// A 16x16 arrow: 2 = white fill, 1 = black outline, 0 = transparent.
fn cursor_pixel(row: usize, col: usize) -> u8 {
    // Arrow head: a right triangle with its tip at (0, 0), then a short tail.
    if row < 11 {
        if col > row {
            0
        } else if col == 0 || col == row || row == 10 {
            1
        } else {
            2
        }
    } else if row < 16
        && (3..6).contains(&col.saturating_sub(row - 11))
        && col >= 3
        && col < 6 + (row - 11)
    {
        if col == 3 + (row - 11) || col == 5 + (row - 11) {
            1
        } else {
            2
        }
    } else {
        0
    }
}

/// Draws the cursor with its tip at `(x, y)` into an RGB24 frame, clipped at the borders.
pub fn draw_cursor(frame: &mut [u8], width: usize, height: usize, x: i64, y: i64) {
    for row in 0..16 {
        for col in 0..16 {
            let (px, py) = (x + col as i64, y + row as i64);
            if px < 0 || py < 0 || px >= width as i64 || py >= height as i64 {
                continue;
            }
            let value = match cursor_pixel(row, col) {
                1 => 0u8,
                2 => 255u8,
                _ => continue,
            };
            let i = (py as usize * width + px as usize) * 3;
            frame[i..i + 3].fill(value);
        }
    }
}
