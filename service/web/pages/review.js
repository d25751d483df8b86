// Review queue (#/review) for traffic police: pending events oldest first, one event fills the
// screen (composite, the three frames and close-ups, the clip player beside the signal state),
// decided by keyboard. The next event's detail and media are fetched while the current one is on
// screen, so a decision shows the next event at once (the UI test measures it, < 300 ms).
//
// The view is in ./review/: view.js (state, skeleton, filters, export) and its mixins.

import { registerPage } from "../app.js";
import { readFilters } from "./review/common.js";
import { ReviewView } from "./review/view.js";

// ---------------------------------------------------------------- page

function render(root, params) {
  const view = new ReviewView(root, readFilters(params.query));
  view.start();
  return () => view.destroy();
}

registerPage("review", { title: "review.title", roles: ["reviewer"], render });
