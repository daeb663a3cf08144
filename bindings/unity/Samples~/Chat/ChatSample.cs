using System.Collections.Generic;
using Inworld.Unity;
using UnityEngine;

/// An editor-free chat: add this component to an empty GameObject in any
/// scene and press Play. It builds what it needs in code (the character on
/// the embedded local engine, its voice, an immediate-mode UI) and talks to
/// Marta, the innkeeper of the demo tavern.
public class ChatSample : MonoBehaviour
{
    private InworldCharacter character;
    private readonly List<string> lines = new List<string>();
    private string input = "";
    private bool waiting;

    private void Awake()
    {
        gameObject.SetActive(false); // configure the components before OnEnable runs
        character = gameObject.AddComponent<InworldCharacter>();
        gameObject.AddComponent<AudioSource>();
        gameObject.AddComponent<InworldVoice>();
        character.onText.AddListener((speaker, text, final) => { if (final) lines.Add(text); });
        character.onEmotion.AddListener((behavior, strength) => lines.Add("  (" + behavior + ", " + strength + ")"));
        character.onTrigger.AddListener(name => lines.Add("  [" + name + "]"));
        character.onNarratedAction.AddListener(what => lines.Add("  *" + what + "*"));
        character.onInteractionEnd.AddListener(id => waiting = false);
        character.onError.AddListener(message => { lines.Add("! " + message); waiting = false; });
        gameObject.SetActive(true);
    }

    private void OnGUI()
    {
        GUILayout.Label(character.IsReady ? "Talking to the tavern (type and press Send)" : "Connecting...");
        foreach (var line in lines) GUILayout.Label(line);
        input = GUILayout.TextField(input);
        if (GUILayout.Button("Send") && !waiting && input.Length > 0 && character.Say(input))
        {
            lines.Add("> " + input);
            input = "";
            waiting = true;
        }
    }
}
