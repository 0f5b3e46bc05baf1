#include "train/loss_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace tt {

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) hi = lo + 1;
  double raw = (hi - lo) / std::max(1, target);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

static std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

static std::string escape_xml(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else if (c == '"')
      o += "&quot;";
    else
      o += c;
  }
  return o;
}

std::string loss_curve_svg(const std::vector<LossPoint>& train, const std::vector<LossPoint>& eval,
                           const std::string& title) {
  const double W = 800, H = 480, left = 70, right = 20, top = 40, bottom = 60;
  const double pw = W - left - right, ph = H - top - bottom;
  double xmin = 0, xmax = 1, ymin = std::numeric_limits<double>::infinity(), ymax = -ymin;
  for (const auto* series : {&train, &eval})
    for (const auto& p : *series) {
      if (!std::isfinite(p.loss)) continue;
      xmax = std::max(xmax, double(p.step));
      ymin = std::min(ymin, p.loss);
      ymax = std::max(ymax, p.loss);
    }
  if (!std::isfinite(ymin)) ymin = 0, ymax = 1;
  if (ymax - ymin < 1e-6) ymin -= 0.5, ymax += 0.5;
  std::vector<double> xt = nice_ticks(xmin, xmax), yt = nice_ticks(ymin, ymax);
  xmax = std::max(xmax, xt.back());
  ymin = std::min(ymin, yt.front());
  ymax = std::max(ymax, yt.back());
  auto X = [&](double s) { return left + pw * (s - xmin) / (xmax - xmin); };
  auto Y = [&](double l) { return top + ph * (1 - (l - ymin) / (ymax - ymin)); };

  std::string s;
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\" height=\"480\" viewBox=\"0 0 800 480\" "
       "font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<rect width=\"800\" height=\"480\" fill=\"white\"/>\n";
  s += "<text x=\"400\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" + escape_xml(title) + "</text>\n";
  for (double v : yt) {
    std::string y = fmt("%.1f", Y(v));
    s += "<line x1=\"" + fmt("%.1f", left) + "\" x2=\"" + fmt("%.1f", left + pw) + "\" y1=\"" + y +
         "\" y2=\"" + y + "\" stroke=\"#e0e0e0\"/>\n";
    s += "<text x=\"" + fmt("%.1f", left - 6) + "\" y=\"" + y + "\" text-anchor=\"end\" dy=\"4\">" +
         fmt("%g", v) + "</text>\n";
  }
  for (double v : xt) {
    std::string x = fmt("%.1f", X(v));
    s += "<line x1=\"" + x + "\" x2=\"" + x + "\" y1=\"" + fmt("%.1f", top + ph) + "\" y2=\"" +
         fmt("%.1f", top + ph + 5) + "\" stroke=\"black\"/>\n";
    s += "<text x=\"" + x + "\" y=\"" + fmt("%.1f", top + ph + 18) + "\" text-anchor=\"middle\">" +
         fmt("%g", v) + "</text>\n";
  }
  s += "<rect x=\"" + fmt("%.1f", left) + "\" y=\"" + fmt("%.1f", top) + "\" width=\"" + fmt("%.1f", pw) +
       "\" height=\"" + fmt("%.1f", ph) + "\" fill=\"none\" stroke=\"black\"/>\n";
  s += "<text x=\"" + fmt("%.1f", left + pw / 2) + "\" y=\"" + fmt("%.1f", H - 15) +
       "\" text-anchor=\"middle\">optimizer step</text>\n";
  s += "<text transform=\"translate(18," + fmt("%.1f", top + ph / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">loss (cross-entropy, nats/token)</text>\n";

  auto polyline = [&](const std::vector<LossPoint>& pts, const char* color, bool dots) {
    std::string pl;
    for (const auto& p : pts)
      if (std::isfinite(p.loss)) pl += fmt("%.1f", X(double(p.step))) + "," + fmt("%.1f", Y(p.loss)) + " ";
    if (pl.empty()) return;
    s += "<polyline fill=\"none\" stroke=\"" + std::string(color) + "\" stroke-width=\"1.5\" points=\"" + pl +
         "\"/>\n";
    if (dots)
      for (const auto& p : pts)
        if (std::isfinite(p.loss))
          s += "<circle cx=\"" + fmt("%.1f", X(double(p.step))) + "\" cy=\"" + fmt("%.1f", Y(p.loss)) +
               "\" r=\"3\" fill=\"" + color + "\"/>\n";
  };
  polyline(train, "#1f77b4", false);
  polyline(eval, "#d62728", true);
  double lx = left + pw - 150, ly = top + 12;
  s += "<line x1=\"" + fmt("%.1f", lx) + "\" x2=\"" + fmt("%.1f", lx + 24) + "\" y1=\"" + fmt("%.1f", ly) +
       "\" y2=\"" + fmt("%.1f", ly) + "\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n";
  s += "<text x=\"" + fmt("%.1f", lx + 30) + "\" y=\"" + fmt("%.1f", ly + 4) + "\">train loss</text>\n";
  s += "<line x1=\"" + fmt("%.1f", lx) + "\" x2=\"" + fmt("%.1f", lx + 24) + "\" y1=\"" +
       fmt("%.1f", ly + 18) + "\" y2=\"" + fmt("%.1f", ly + 18) +
       "\" stroke=\"#d62728\" stroke-width=\"2\"/>\n";
  s += "<text x=\"" + fmt("%.1f", lx + 30) + "\" y=\"" + fmt("%.1f", ly + 22) + "\">eval loss</text>\n";
  s += "</svg>\n";
  return s;
}

}  // namespace tt
