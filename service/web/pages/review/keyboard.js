// The review queue's keyboard (a mixin of ReviewView: `this` is the view): one keydown handler on
// the document; the reason picker and the zoom take keys first, typing in a field is left alone.


export class Keyboard {
  key(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const target = e.target;
    const typing = target instanceof HTMLElement
      && (target.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName));
    if (this.picker) {
      if (e.key === "Escape") { e.preventDefault(); this.closePicker(); return; }
      if (!typing && /^[1-9]$/.test(e.key)) { e.preventDefault(); this.pick(Number(e.key) - 1); }
      return;
    }
    if (e.key === "Escape") {
      if (this.isLarge()) { e.preventDefault(); this.toggleLarge(); }
      else if (!this.zoom.hidden) { e.preventDefault(); this.toggleZoom(); }
      else if (!this.help.hidden) this.toggleHelp();
      return;
    }
    if (!this.zoom.hidden) { // arrows, space ... scroll the enlarged picture; Z closes it
      if (e.key.toLowerCase() === "z") { e.preventDefault(); this.toggleZoom(); }
      return;
    }
    if (typing) return;
    const onButton = target instanceof HTMLElement && (target.tagName === "BUTTON" || target.tagName === "A");
    const k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    const actions = {
      j: () => this.next(), ArrowRight: () => this.next(),
      k: () => this.previous(), ArrowLeft: () => this.previous(),
      c: () => this.decide("confirm"), Enter: () => this.decide("confirm"),
      d: () => this.openPicker("dismiss"), n: () => this.openPicker("needs_info"),
      z: () => !this.isLarge() && this.toggleZoom(), " ": () => this.playPause(),
      ",": () => this.step(-1), ".": () => this.step(1), m: () => this.toMark(), v: () => this.toggleLarge(),
      s: () => this.slow(), l: () => this.loop(), e: () => this.exportCurrent(), "?": () => this.toggleHelp(),
      u: () => this.undoItem?.isConnected && this.undoItem.querySelector("button:not(:disabled)")?.click(),
    };
    if (!(k in actions)) return;
    if (onButton && (k === "Enter" || k === " ")) return; // let the focused button do its own thing
    if (target === this.video && (k === " " || k === "ArrowLeft" || k === "ArrowRight")) e.preventDefault();
    e.preventDefault();
    actions[k]();
  }
}
