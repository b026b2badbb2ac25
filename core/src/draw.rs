//! Cells of a genotype as pictures: Graphviz DOT text and a self-contained SVG drawing (pure string
//! generation, shared by the CLI's report and the browser demo).

use std::fmt::Write;

use crate::space::Primitive;

/// Display name of input/node `i` of a cell: c_{k-2}, c_{k-1}, then 0, 1, … for the nodes.
fn node_name(i: usize) -> String {
    match i {
        0 => "c_{k-2}".into(),
        1 => "c_{k-1}".into(),
        n => (n - 2).to_string(),
    }
}

/// A stroke colour per family of operation, so that parameter-free choices stand out.
pub fn op_colour(p: Primitive) -> &'static str {
    match p.name() {
        "skip_connect" => "#d62728",
        "max_pool_3x3" | "avg_pool_3x3" => "#ff7f0e",
        "none" | "noise" => "#7f7f7f",
        n if n.starts_with("sep_conv") => "#1f77b4",
        _ => "#2ca02c",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The cell as a Graphviz digraph (`dot -Tsvg` draws it): inputs, intermediate nodes, the output
/// c_{k} fed by the concatenated nodes, and one labelled edge per chosen (op, input).
pub fn cell_dot(name: &str, cell: &[(Primitive, usize)], concat: &[usize]) -> String {
    let nodes = cell.len() / 2;
    let mut s = String::new();
    let _ = writeln!(s, "digraph \"{}\" {{", escape(name));
    let _ = writeln!(s, "  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=11];");
    let _ = writeln!(s, "  \"c_{{k-2}}\" [fillcolor=\"#9ecae1\"];\n  \"c_{{k-1}}\" [fillcolor=\"#9ecae1\"];");
    for i in 0..nodes {
        let _ = writeln!(s, "  \"{i}\" [fillcolor=\"#fdd0a2\"];");
    }
    let _ = writeln!(s, "  \"c_{{k}}\" [fillcolor=\"#a1d99b\"];");
    for (j, (op, input)) in cell.iter().enumerate() {
        let _ = writeln!(
            s,
            "  \"{}\" -> \"{}\" [label=\"{}\", color=\"{}\"];",
            node_name(*input),
            j / 2,
            op.name(),
            op_colour(*op)
        );
    }
    for &c in concat {
        let _ = writeln!(s, "  \"{}\" -> \"c_{{k}}\" [color=\"#bbbbbb\"];", node_name(c));
    }
    s.push_str("}\n");
    s
}

/// The cell as an SVG drawing: inputs on the left, node i in column i + 1, the output on the
/// right; edges curve so that two edges between the same columns stay apart, each labelled with
/// its op and coloured by [`op_colour`]. `id` becomes the root element's id.
pub fn cell_svg(id: &str, title: &str, cell: &[(Primitive, usize)], concat: &[usize]) -> String {
    let nodes = cell.len() / 2;
    let (col_w, h, box_w, box_h) = (150.0, 240.0, 64.0, 28.0);
    let width = col_w * (nodes as f64 + 2.0) + 20.0;
    let pos = |i: usize| -> (f64, f64) {
        match i {
            0 => (50.0, 70.0),
            1 => (50.0, h - 40.0),
            n => {
                let k = n - 2;
                let y = if k % 2 == 0 { 105.0 } else { 165.0 };
                (50.0 + col_w * (k as f64 + 1.0), y)
            }
        }
    };
    let out = (50.0 + col_w * (nodes as f64 + 1.0), h / 2.0 + 15.0);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{}\" width=\"{width:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {width:.0} {h:.0}\" font-family=\"sans-serif\">",
        escape(id)
    );
    let _ = write!(s, "<title>{}</title><rect width=\"100%\" height=\"100%\" fill=\"white\"/>", escape(title));
    let _ = write!(s, "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{}</text>", escape(title));
    let _ = write!(s, "<defs><marker id=\"{0}-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>", escape(id));
    let edge = |s: &mut String, from: (f64, f64), to: (f64, f64), bend: f64, colour: &str, label: Option<&str>| {
        let (x1, y1) = (from.0 + box_w / 2.0, from.1);
        let (x2, y2) = (to.0 - box_w / 2.0, to.1);
        let (mx, my) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0 + bend);
        let _ = write!(
            s,
            "<path class=\"edge\" d=\"M{x1:.1},{y1:.1} Q{mx:.1},{my:.1} {x2:.1},{y2:.1}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" marker-end=\"url(#{}-arrow)\"/>",
            escape(id)
        );
        if let Some(l) = label {
            // The quadratic curve passes its midpoint at half the control point's offset.
            let (lx, ly) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0 + bend / 2.0 - 4.0);
            let _ = write!(s, "<text class=\"op\" x=\"{lx:.1}\" y=\"{ly:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"{colour}\">{}</text>", escape(l));
        }
    };
    for (j, (op, input)) in cell.iter().enumerate() {
        let bend = if j % 2 == 0 { -18.0 } else { 18.0 };
        edge(&mut s, pos(*input), pos(j / 2 + 2), bend, op_colour(*op), Some(op.name()));
    }
    for &c in concat {
        edge(&mut s, pos(c), out, 0.0, "#bbbbbb", None);
    }
    let node = |s: &mut String, (x, y): (f64, f64), label: &str, fill: &str| {
        let _ = write!(
            s,
            "<g class=\"node\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{box_w}\" height=\"{box_h}\" rx=\"6\" fill=\"{fill}\" stroke=\"#333\"/><text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">{}</text></g>",
            x - box_w / 2.0,
            y - box_h / 2.0,
            y + 4.0,
            escape(label)
        );
    };
    node(&mut s, pos(0), "c_{k-2}", "#9ecae1");
    node(&mut s, pos(1), "c_{k-1}", "#9ecae1");
    for i in 0..nodes {
        node(&mut s, pos(i + 2), &i.to_string(), "#fdd0a2");
    }
    node(&mut s, out, "c_{k}", "#a1d99b");
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genotype::Genotype;

    #[test]
    fn darts_v2_normal_cell_draws_every_edge() {
        let g: Genotype = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])".parse().unwrap();
        let dot = cell_dot("normal", &g.normal, &g.normal_concat);
        assert_eq!(dot.matches(" -> ").count(), 8 + 4);
        assert!(dot.contains("\"c_{k-2}\" -> \"0\" [label=\"sep_conv_3x3\""), "{dot}");
        assert!(dot.contains("\"0\" -> \"3\" [label=\"dil_conv_3x3\""), "{dot}");
        let svg = cell_svg("cell-normal", "normal cell", &g.normal, &g.normal_concat);
        assert_eq!(svg.matches("class=\"edge\"").count(), 12);
        assert_eq!(svg.matches("class=\"node\"").count(), 2 + 4 + 1);
        assert_eq!(svg.matches(">skip_connect</text>").count(), 2);
    }
}
