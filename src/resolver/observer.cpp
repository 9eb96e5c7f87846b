#include "resolver/observer.hpp"

namespace mtasts::resolver {

std::string_view to_string(RefreshOutcome outcome) {
  switch (outcome) {
    case RefreshOutcome::unchanged:
      return "unchanged";
    case RefreshOutcome::updated:
      return "updated";
    case RefreshOutcome::failed_kept:
      return "failed-kept";
    case RefreshOutcome::count:
      break;
  }
  return "?";
}

std::string_view to_string(AlarmKind kind) {
  switch (kind) {
    case AlarmKind::expiring:
      return "expiring";
    case AlarmKind::txt_removed:
      return "txt-removed";
    case AlarmKind::weaker_policy:
      return "weaker-policy";
    case AlarmKind::dane_insecure:
      return "dane-insecure";
    case AlarmKind::count:
      break;
  }
  return "?";
}

}  // namespace mtasts::resolver
