// What a laptop screen must show, checked in the page at each size; every problem found,
// as a line of text:
// - nothing is wider than the window, and no table is cut at its right edge;
// - a row's actions stay side by side (their buttons share one top);
// - an id in a table (a.id) is one line, cut with an ellipsis rather than wrapped;
// - a location, and each part of a full name but its last (the id), is never broken;
// - the task page's attempts start within the first screen.
(() => {
  const problems = [];
  const name = (el) => el.textContent.trim().slice(0, 60);
  const html = document.documentElement;
  if (html.scrollWidth > window.innerWidth) {
    problems.push(`the page is ${html.scrollWidth}px wide in a ${window.innerWidth}px window`);
  }
  for (const table of document.querySelectorAll("table")) {
    if (table.scrollWidth > table.clientWidth + 1) {
      problems.push(`table.${table.className} is cut: ${table.scrollWidth} > ${table.clientWidth}`);
    }
  }
  for (const actions of document.querySelectorAll(".actions")) {
    const buttons = [...actions.querySelectorAll("button")];
    const tops = buttons.map((b) => Math.round(b.getBoundingClientRect().top));
    if (new Set(tops).size > 1) problems.push(`actions stacked: ${name(actions)} at ${tops}`);
  }
  for (const id of document.querySelectorAll("a.id")) {
    const line = parseFloat(getComputedStyle(id).lineHeight);
    if (id.getBoundingClientRect().height > line * 1.5) problems.push(`id wrapped: ${name(id)}`);
  }
  const unbroken = document.querySelectorAll(
    ".where .location, .where .project, .resource .part:not(:last-child)");
  for (const part of unbroken) {
    if (part.getClientRects().length > 1) problems.push(`broken: ${name(part)}`);
  }
  const attempts = document.querySelector("section.attempts");
  const top = attempts ? attempts.getBoundingClientRect().top + window.scrollY : 0;
  if (top >= window.innerHeight) problems.push(`the attempts start below the first screen, at ${top}px`);
  return problems;
})
