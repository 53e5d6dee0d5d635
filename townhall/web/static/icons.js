// Icons shipped with the page as inline SVG (24x24, currentColor), so nothing depends on an
// emoji font or an icon CDN. `icon(name, label)` returns markup: decorative (aria-hidden)
// unless a label is given. Reactions map the API's palette (emoji strings) to an icon.
const P = {
  play: '<path d="M8 5v14l11-7z"/>',
  pause: '<path d="M6 5h4v14H6zM14 5h4v14h-4z"/>',
  volume: '<path d="M4 9v6h4l5 4V5L8 9H4zm12.5 3a4.5 4.5 0 0 0-2.5-4v8a4.5 4.5 0 0 0 2.5-4z"/>',
  mute: '<path d="M4 9v6h4l5 4V5L8 9H4zm12 .4 1.4-1.4 2.1 2.1 2.1-2.1 1.4 1.4-2.1 2.1 2.1 2.1-1.4 1.4-2.1-2.1-2.1 2.1-1.4-1.4 2.1-2.1z"/>',
  mic: '<path d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 6-6.9h-2z"/>',
  micOff: '<path d="M19 11h-2c0 .7-.2 1.4-.4 2l1.5 1.5c.6-1 .9-2.2.9-3.5zM15 11V5a3 3 0 0 0-5.9-.8L15 10v1zM4.3 3 3 4.3l6 6V11a3 3 0 0 0 4.5 2.6l1.6 1.6A5 5 0 0 1 7 11H5a7 7 0 0 0 6 6.9V21h2v-3.1c1-.1 1.9-.5 2.7-1L19.7 21l1.3-1.3z"/>',
  hand: '<path d="M21 7.5a1.5 1.5 0 0 0-3 0V12h-1V4.5a1.5 1.5 0 0 0-3 0V12h-1V3.5a1.5 1.5 0 0 0-3 0V12H9V6.5a1.5 1.5 0 0 0-3 0v9.2l-2.3-2.3a1.5 1.5 0 0 0-2.1 2.1L7.2 21c.8.6 1.8 1 2.8 1h6a5 5 0 0 0 5-5z"/>',
  share: '<path d="M18 16a3 3 0 0 0-2.2 1l-7-4a3 3 0 0 0 0-2l7-4A3 3 0 1 0 15 5l-7 4a3 3 0 1 0 0 6l7 4a3 3 0 1 0 3-3z"/>',
  link: '<path d="M10.6 13.4a1 1 0 0 1 0-1.4l3.5-3.5a1 1 0 1 1 1.4 1.4L12 13.4a1 1 0 0 1-1.4 0zM8.5 18.4a3.5 3.5 0 0 1-5-5l2.8-2.7 1.4 1.4-2.8 2.7a1.5 1.5 0 0 0 2.2 2.2l2.7-2.8 1.4 1.4zm9.2-5.1-1.4-1.4 2.8-2.7a1.5 1.5 0 0 0-2.2-2.2l-2.7 2.8-1.4-1.4 2.7-2.8a3.5 3.5 0 0 1 5 5z"/>',
  calendar: '<path d="M7 2h2v2h6V2h2v2h3v18H4V4h3zm-1 8v10h12V10zm0-2h12V6H6z"/>',
  download: '<path d="M11 3h2v9l3.5-3.5 1.4 1.4L12 15.8 6.1 9.9l1.4-1.4L11 12zM4 18h16v2H4z"/>',
  people: '<path d="M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm7 0a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM1 20c0-3.3 3.6-6 8-6s8 2.7 8 6zm16.5 0c0-1.7-.7-3.2-1.8-4.4 3.3.1 6.3 1.9 6.3 4.4z"/>',
  live: '<circle cx="12" cy="12" r="5"/>',
  leave: '<path d="M10 3h10v18H10v-2h8V5h-8zm-1.4 5 1.4 1.4L8.4 11H15v2H8.4l1.6 1.6L8.6 16 4.6 12z"/>',
  check: '<path d="m9 16.2-4.2-4.2-1.4 1.4L9 19 21 7l-1.4-1.4z"/>',
  close: '<path d="m6.4 5 5.6 5.6L17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6l5.6-5.6L5 6.4z"/>',
  star: '<path d="m12 3 2.8 5.8 6.2.9-4.5 4.4 1 6.2L12 17.4l-5.5 2.9 1-6.2L3 9.7l6.2-.9z"/>',
  copy: '<path d="M8 3h11v13h-2V5H8zM5 7h10v14H5zm2 2v10h6V9z"/>',
  warning: '<path d="M12 2 1 21h22zm-1 7h2v6h-2zm0 8h2v2h-2z"/>',
  key: '<path d="M7 10a5 5 0 1 1 4.6 5H10v2H8v2H5v-3.6l5.1-5.1A5 5 0 0 1 7 10zm5-1.5a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3z"/>',
  clap: '<path d="M8.6 3.2a1.4 1.4 0 0 1 2 .2l5.7 7.6-.2-2a1.4 1.4 0 0 1 2.8-.4l.9 6.4a6.4 6.4 0 0 1-11.3 4.7l-4.8-6.4a1.4 1.4 0 0 1 2.3-1.7l2 2.6.4-.3-4.2-5.6a1.4 1.4 0 0 1 2.3-1.7l4.2 5.6.4-.3L7.9 6a1.4 1.4 0 0 1 2.2-1.7l4.2 5.6.4-.3-4.7-6.2zM15 2l1 3M19 3l-1.5 2.5M21 7l-2.7.5" stroke="currentColor" stroke-width="0"/>',
  heart: '<path d="M12 21s-8-5.2-8-11a4.5 4.5 0 0 1 8-2.8A4.5 4.5 0 0 1 20 10c0 5.8-8 11-8 11z"/>',
  laugh: '<path d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zM8.5 7.5a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zm7 0a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zM6.5 13h11a5.5 5.5 0 0 1-11 0z"/>',
  fire: '<path d="M13.5 1s1 3.3-1.5 6.5C10.3 9.7 9 9 9 7c-2.3 2-4 4.6-4 7.5a7 7 0 0 0 14 0C19 8 13.5 1 13.5 1zM12 20a3 3 0 0 1-3-3c0-1.7 1.4-2.6 3-5 1.6 2.4 3 3.3 3 5a3 3 0 0 1-3 3z"/>',
  thumbs: '<path d="M2 10h4v11H2zm6 11V10l5-8 1.3 1a2 2 0 0 1 .6 2.1L14 9h6.5a1.5 1.5 0 0 1 1.5 1.8l-2 9A1.5 1.5 0 0 1 18.5 21z"/>',
  party: '<path d="M3 21 8 7l9 9zm7.3-6.3 1.4 1.4M14 3l1 2M20 9l-2 1M18 2l-1 3 3-1M21 14l-3-.5" stroke="currentColor" stroke-width="2" fill="currentColor"/>',
  wow: '<path d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zM8.5 7a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zm7 0a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zM12 12.5a3 3 0 1 1 0 6 3 3 0 0 1 0-6z"/>',
  hundred: '<path d="M3 6h2v10H3zm5 0h4v10H8zm2 2v6h0V8zM14 6h4v10h-4zm2 2v6V8zM3 18h16v2H3z" fill-rule="evenodd"/>',
  pray: '<path d="M11 3v8l-3 5v5H5v-6l3-6 1.5-5zm2 0 1.5 1 1.5 5 3 6v6h-3v-5l-3-5z"/>',
  sad: '<path d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zM8.5 7.5a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zm7 0a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zM7.5 17a5 5 0 0 1 9 0l-1.6 1a3.2 3.2 0 0 0-5.8 0z"/>',
};

// the reaction palette the API accepts (townhall/space/reactions.py PALETTE) -> icon, label
export const REACTIONS = [
  ["👏", "clap", "Applause"], ["❤️", "heart", "Love"], ["😂", "laugh", "Laugh"],
  ["🔥", "fire", "Fire"], ["👍", "thumbs", "Agree"], ["🎉", "party", "Celebrate"],
];
const BY_EMOJI = Object.fromEntries([
  ...REACTIONS.map(([e, n, l]) => [e, [n, l]]),
  ["😮", ["wow", "Wow"]], ["💯", ["hundred", "A hundred"]], ["🙏", ["pray", "Thanks"]],
  ["😢", ["sad", "Sad"]],
]);

export function icon(name, label = "") {
  const a11y = label ? `role="img" aria-label="${label}"` : 'aria-hidden="true" focusable="false"';
  return `<svg class="icon icon-${name}" viewBox="0 0 24 24" width="24" height="24" ` +
    `fill="currentColor" ${a11y}>${P[name] || P.star}</svg>`;
}

export function reactionIcon(emoji) {
  const [name, label] = BY_EMOJI[emoji] || ["star", "Reaction"];
  return { name, label, svg: icon(name) };
}
