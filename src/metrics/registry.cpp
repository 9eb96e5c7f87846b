#include "metrics/registry.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "metrics/text_format.hpp"

namespace mtasts::metrics {

namespace {

std::string render_labels(std::string_view metric, const Labels& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    // "le" is the histogram's own label; "quantile" a summary's.
    if (!valid_label_name(name) || name == "le" || name == "quantile")
      throw std::logic_error(fmt::format("metric {}: invalid label name '{}'", metric, name));
    if (!out.empty()) out += ',';
    out += name;
    out += "=\"";
    out += escape_label_value(value);
    out += '"';
  }
  return out;
}

// name{labels} value, or name value without labels.
void write_sample(std::string& out, std::string_view name, std::string_view labels,
                  std::string_view value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

}  // namespace

Registry::Family& Registry::family(std::string_view name, std::string_view help, Type type,
                                   const Labels& labels, std::string& rendered) {
  if (!valid_metric_name(name))
    throw std::logic_error(fmt::format("invalid metric name '{}'", name));
  // Prometheus's conventions (and promtool's lint): a counter's name says it counts.
  if (type == Type::counter && !name.ends_with("_total"))
    throw std::logic_error(fmt::format("counter {} must end in _total", name));
  if (help.empty()) throw std::logic_error(fmt::format("metric {}: no help text", name));
  rendered = render_labels(name, labels);
  for (auto& f : families_) {
    if (f.name != name) continue;
    if (f.type != type || f.help != help)
      throw std::logic_error(fmt::format("metric {} registered twice differently", name));
    for (const auto& s : f.series) {
      if (s.labels == rendered)
        throw std::logic_error(fmt::format("metric {}{{{}}} registered twice", name, rendered));
    }
    return f;
  }
  families_.push_back(Family{std::string(name), std::string(help), type, {}});
  return families_.back();
}

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  std::string rendered;
  auto& f = family(name, help, Type::counter, labels, rendered);
  auto& c = counters_.emplace_back();
  f.series.push_back(Series{std::move(rendered), &c});
  return c;
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::string rendered;
  auto& f = family(name, help, Type::gauge, labels, rendered);
  auto& g = gauges_.emplace_back();
  f.series.push_back(Series{std::move(rendered), &g});
  return g;
}

Histogram& Registry::histogram(std::string_view name, std::string_view help,
                               const std::vector<double>& bounds_seconds, const Labels& labels) {
  std::string rendered;
  auto& f = family(name, help, Type::histogram, labels, rendered);
  auto& h = histograms_.emplace_back(bounds_seconds);
  f.series.push_back(Series{std::move(rendered), &h});
  return h;
}

void Registry::counter_from(std::string_view name, std::string_view help, const Labels& labels,
                            std::function<double()> read) {
  std::string rendered;
  auto& f = family(name, help, Type::counter, labels, rendered);
  f.series.push_back(Series{std::move(rendered), std::move(read)});
}

void Registry::gauge_from(std::string_view name, std::string_view help, const Labels& labels,
                          std::function<double()> read) {
  std::string rendered;
  auto& f = family(name, help, Type::gauge, labels, rendered);
  f.series.push_back(Series{std::move(rendered), std::move(read)});
}

void Registry::before_scrape(std::function<void()> fn) { before_scrape_.push_back(std::move(fn)); }

std::string_view Registry::type_name(Type type) {
  switch (type) {
    case Type::counter:
      return "counter";
    case Type::gauge:
      return "gauge";
    case Type::histogram:
      return "histogram";
  }
  return "untyped";
}

void Registry::write_family(std::string& out, const Family& family) {
  out += "# HELP ";
  out += family.name;
  out += ' ';
  out += escape_help(family.help);
  out += "\n# TYPE ";
  out += family.name;
  out += ' ';
  out += type_name(family.type);
  out += '\n';
  for (const auto& series : family.series) {
    if (const auto* counter = std::get_if<const Counter*>(&series.source)) {
      write_sample(out, family.name, series.labels, fmt::format("{}", (*counter)->value()));
    } else if (const auto* gauge = std::get_if<const Gauge*>(&series.source)) {
      write_sample(out, family.name, series.labels, fmt::format("{}", (*gauge)->value()));
    } else if (const auto* read = std::get_if<std::function<double()>>(&series.source)) {
      write_sample(out, family.name, series.labels, format_value((*read)()));
    } else {
      const auto snap = std::get<const Histogram*>(series.source)->snapshot();
      const std::string bucket = family.name + "_bucket";
      const std::string prefix = series.labels.empty() ? "" : series.labels + ",";
      for (std::size_t i = 0; i < snap.le.size(); ++i) {
        const std::string le =
            i < snap.bounds.size() ? format_value(snap.bounds[i]) : std::string("+Inf");
        write_sample(out, bucket, prefix + "le=\"" + le + "\"", fmt::format("{}", snap.le[i]));
      }
      write_sample(out, family.name + "_sum", series.labels, format_value(snap.sum_seconds));
      write_sample(out, family.name + "_count", series.labels, fmt::format("{}", snap.count));
    }
  }
}

std::string Registry::expose() {
  for (const auto& fn : before_scrape_) fn();
  std::string out;
  for (const auto& f : families_) write_family(out, f);
  return out;
}

}  // namespace mtasts::metrics
